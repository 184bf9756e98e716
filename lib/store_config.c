/*
 * store_config.c - where the configuration says the state is: the SQLite
 * file in state_dir, or MariaDB/MySQL when mysql_host is set.
 */
#include "config.h"
#include "store.h"
#include "store_mysql.h"

int
kc_store_open_config(struct kc_store *st, const struct kc_config *cfg,
    struct kc_error *err)
{
	struct kc_store_mysql where = {
		.host = cfg->mysql_host,
		.database = cfg->mysql_database,
		.user = cfg->mysql_user,
		.password = cfg->mysql_password,
		.table_prefix = cfg->mysql_table_prefix,
		.ca_file = cfg->ca_file,
		.require_tls = cfg->mysql_require_tls,
	};

	if (cfg->mysql_host == NULL)
		return kc_store_open(st, cfg->state_dir, err);
	return kc_store_open_mysql(st, &where, err);
}
