#!/bin/sh
# Installs the Debian 12 packages that building, testing and the demo need.
# Installs nothing when everything is already there.
set -e
PACKAGES="build-essential pkg-config libcurl4-openssl-dev libjansson-dev libfcgi-dev
libfcgi-bin libsqlite3-dev sqlite3 libssl-dev libcmocka-dev python3 openssl curl
nginx-light apache2 apache2-utils spawn-fcgi fcgiwrap valgrind"
missing=""
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
