/*
 * store_mysql.h - the store in MariaDB/MySQL, shared by every web server.
 */
#ifndef KC_STORE_MYSQL_H
#define KC_STORE_MYSQL_H

#include "store.h"

/* The SQLite schema version (store.c) the MariaDB schema matches. */
#define KC_STORE_MYSQL_VERSION 5

/* Where the database is; strings are the configuration's (not copied). */
struct kc_store_mysql {
	const char *host;	/* host, host:port or a socket path */
	const char *database;
	const char *user;
	const char *password;
	const char *table_prefix;
	const char *ca_file;	/* NULL: the system's CAs */
	int require_tls;
};

/* Connects, creates or migrates the tables, as kc_store_open does. */
int kc_store_open_mysql(struct kc_store *st, const struct kc_store_mysql *p,
    struct kc_error *err);

#endif
