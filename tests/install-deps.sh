#!/bin/sh
# Installs the Debian 12 packages that building, testing and the demo need.
# Installs nothing when everything is already there.
set -e
PACKAGES="build-essential pkg-config libcurl4-openssl-dev libjansson-dev libfcgi-dev
libfcgi-bin libsqlite3-dev sqlite3 libssl-dev libunistring-dev libcmocka-dev gettext python3 openssl curl
nginx-light apache2 apache2-utils spawn-fcgi fcgiwrap valgrind chromium
clang libclang-rt-14-dev wrk logrotate tzdata
libmariadb-dev mariadb-server mariadb-client python3-pymysql"
missing=""
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
# Node.js for the browser test: machines of this kind come with Node.js 20
# and npm; only a machine without them gets Debian's.
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 ||
	missing="$missing nodejs npm"
if [ -n "$missing" ]; then
	echo "installing:$missing"
	if [ "$(id -u)" -ne 0 ]; then
		SUDO=sudo
	fi
	$SUDO apt-get update -qq
	# The tests start MariaDB as their own process; the package must not start
	# the machine's own server (policy-rc.d 101: "not now"), unless one is set.
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
		$SUDO chmod 755 /usr/sbin/policy-rc.d
		trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
	fi
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi
# The browser test's driver, pinned by tests/browser/package-lock.json;
# playwright-core downloads no browser: the test uses /usr/bin/chromium.
[ -d "$(dirname "$0")/browser/node_modules/playwright-core" ] ||
	(cd "$(dirname "$0")/browser" && npm ci --no-audit --no-fund --loglevel=error)
