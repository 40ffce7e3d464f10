/*
 * config.c: the mock's key = value configuration file.
 *
 *   apns_team_id = TEAM123456                   (repeatable: the team of the keys below it)
 *   apns_key = KEYID12345 apns_key.pub.pem [TEAM]  (repeatable: key id, EC P-256 public key,
 *                                                  its team: TEAM, else the apns_team_id above)
 *   apns_bundle_id = com.example.app            (repeatable)
 *   fcm_project_id = mock-project
 *   fcm_client_email = sa@mock-project.iam.gserviceaccount.com
 *   fcm_public_key = fcm_key.pub.pem            (RSA public key of the service account)
 *   fcm_token_uri = https://127.0.0.1:55300/token
 *   hms_app_id = 100200300
 *   hms_client_secret = s3cret
 *   webhook_secret = whsec
 *   outcomes_secret = <16 or more characters>   (the outcome webhook's receiver, outcomes.c)
 *   honor_app_id = 104400500, honor_client_id = ..., honor_client_secret = ...
 *   xiaomi_app_secret = ..., xiaomi_package_name = com.example.app
 *   meizu_app_id = 110000, meizu_app_secret = ...
 *   vivo_app_id = 10004, vivo_app_key = ..., vivo_app_secret = ...
 *   harmony_project_id = ..., harmony_sub_account = ..., harmony_key_id = ...,
 *   harmony_public_key = harmony.pub.pem        (RSA public key of the service account)
 *   oppo_app_key = ..., oppo_master_secret = ...
 *   max_tokens = 100000
 *
 * Relative file names are read from the configuration file's directory.  '#' starts a comment.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mock.h"

config		cfg;

static char *
trim(char *s)
{
	char	   *e;

	while (isspace((unsigned char) *s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char) e[-1]))
		*--e = '\0';
	return s;
}

static EVP_PKEY *
load_rel(const char *dir, const char *file)
{
	char		path[4096];
	EVP_PKEY   *k;

	if (file[0] == '/' || dir[0] == '\0')
		snprintf(path, sizeof(path), "%s", file);
	else
		snprintf(path, sizeof(path), "%s/%s", dir, file);
	k = load_public_key(path);
	if (k == NULL)
		fprintf(stderr, "mock_vendor: cannot read public key %s\n", path);
	return k;
}

static void
set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = strdup(v);
}

int
config_load(const char *path)
{
	FILE	   *f = fopen(path, "r");
	char		line[4096];
	char		dir[4096];
	char	   *slash;
	int			lineno = 0;
	char	   *team = NULL;	/* the last apns_team_id */

	cfg.max_tokens = 100000;
	if (f == NULL)
	{
		fprintf(stderr, "mock_vendor: cannot open config %s\n", path);
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	else
		dir[0] = '\0';

	while (fgets(line, sizeof(line), f))
	{
		char	   *hash = strchr(line, '#');
		char	   *eq,
				   *k,
				   *v;

		lineno++;
		if (hash)
			*hash = '\0';
		k = trim(line);
		if (*k == '\0')
			continue;
		eq = strchr(k, '=');
		if (eq == NULL)
			goto bad;
		*eq = '\0';
		k = trim(k);
		v = trim(eq + 1);

		if (strcmp(k, "apns_team_id") == 0)
			set_str(&team, v);
		else if (strcmp(k, "apns_key") == 0)
		{
			char	   *file,
					   *kteam;
			apns_key   *ak;

			/* KID FILE [TEAM] */
			file = strtok(v, " \t");
			file = strtok(NULL, " \t");
			kteam = file ? strtok(NULL, " \t") : NULL;
			if (kteam == NULL)
				kteam = team;
			if (file == NULL || kteam == NULL || strtok(NULL, " \t") != NULL)
				goto bad;
			cfg.apns_keys = realloc(cfg.apns_keys, sizeof(apns_key) * (cfg.n_apns_keys + 1));
			ak = &cfg.apns_keys[cfg.n_apns_keys];
			ak->key = load_rel(dir, file);
			if (ak->key == NULL)
				goto fail;
			ak->kid = strdup(v);
			ak->team = strdup(kteam);
			cfg.n_apns_keys++;
		}
		else if (strcmp(k, "apns_bundle_id") == 0)
		{
			cfg.apns_bundles = realloc(cfg.apns_bundles, sizeof(char *) * (cfg.n_apns_bundles + 1));
			cfg.apns_bundles[cfg.n_apns_bundles++] = strdup(v);
		}
		else if (strcmp(k, "fcm_project_id") == 0)
			set_str(&cfg.fcm_project_id, v);
		else if (strcmp(k, "fcm_client_email") == 0)
			set_str(&cfg.fcm_client_email, v);
		else if (strcmp(k, "fcm_public_key") == 0)
		{
			EVP_PKEY_free(cfg.fcm_key);
			cfg.fcm_key = load_rel(dir, v);
			if (cfg.fcm_key == NULL)
				goto fail;
		}
		else if (strcmp(k, "fcm_token_uri") == 0)
		{
			const char *p = strstr(v, "://");

			set_str(&cfg.fcm_token_uri, v);
			p = p ? strchr(p + 3, '/') : NULL;
			set_str(&cfg.fcm_token_path, p ? p : "/token");
		}
		else if (strcmp(k, "hms_app_id") == 0)
			set_str(&cfg.hms_app_id, v);
		else if (strcmp(k, "hms_client_secret") == 0)
			set_str(&cfg.hms_client_secret, v);
		else if (strcmp(k, "webhook_secret") == 0)
			set_str(&cfg.webhook_secret, v);
		else if (strcmp(k, "outcomes_secret") == 0)
			set_str(&cfg.outcomes_secret, v);
		else if (strcmp(k, "honor_app_id") == 0)
			set_str(&cfg.honor_app_id, v);
		else if (strcmp(k, "honor_client_id") == 0)
			set_str(&cfg.honor_client_id, v);
		else if (strcmp(k, "honor_client_secret") == 0)
			set_str(&cfg.honor_client_secret, v);
		else if (strcmp(k, "xiaomi_app_secret") == 0)
			set_str(&cfg.xiaomi_app_secret, v);
		else if (strcmp(k, "xiaomi_package_name") == 0)
			set_str(&cfg.xiaomi_package_name, v);
		else if (strcmp(k, "meizu_app_id") == 0)
			set_str(&cfg.meizu_app_id, v);
		else if (strcmp(k, "meizu_app_secret") == 0)
			set_str(&cfg.meizu_app_secret, v);
		else if (strcmp(k, "vivo_app_id") == 0)
			set_str(&cfg.vivo_app_id, v);
		else if (strcmp(k, "vivo_app_key") == 0)
			set_str(&cfg.vivo_app_key, v);
		else if (strcmp(k, "vivo_app_secret") == 0)
			set_str(&cfg.vivo_app_secret, v);
		else if (strcmp(k, "harmony_project_id") == 0)
			set_str(&cfg.harmony_project_id, v);
		else if (strcmp(k, "harmony_sub_account") == 0)
			set_str(&cfg.harmony_sub_account, v);
		else if (strcmp(k, "harmony_key_id") == 0)
			set_str(&cfg.harmony_key_id, v);
		else if (strcmp(k, "harmony_public_key") == 0)
		{
			EVP_PKEY_free(cfg.harmony_key);
			cfg.harmony_key = load_rel(dir, v);
			if (cfg.harmony_key == NULL)
				goto fail;
		}
		else if (strcmp(k, "oppo_app_key") == 0)
			set_str(&cfg.oppo_app_key, v);
		else if (strcmp(k, "oppo_master_secret") == 0)
			set_str(&cfg.oppo_master_secret, v);
		else if (strcmp(k, "max_tokens") == 0)
			cfg.max_tokens = atoi(v);
		else
			goto bad;
	}
	fclose(f);
	free(team);
	if (cfg.fcm_token_path == NULL)
	{
		cfg.fcm_token_path = strdup("/token");
		cfg.fcm_token_uri = strdup("https://oauth2.googleapis.com/token");
	}
	return 0;

bad:
	fprintf(stderr, "mock_vendor: %s:%d: bad line\n", path, lineno);
fail:
	fclose(f);
	free(team);
	return -1;
}

void
config_free(void)
{
	for (int i = 0; i < cfg.n_apns_keys; i++)
	{
		free(cfg.apns_keys[i].kid);
		free(cfg.apns_keys[i].team);
		EVP_PKEY_free(cfg.apns_keys[i].key);
	}
	free(cfg.apns_keys);
	for (int i = 0; i < cfg.n_apns_bundles; i++)
		free(cfg.apns_bundles[i]);
	free(cfg.apns_bundles);
	free(cfg.fcm_project_id);
	free(cfg.fcm_client_email);
	EVP_PKEY_free(cfg.fcm_key);
	free(cfg.fcm_token_uri);
	free(cfg.fcm_token_path);
	free(cfg.hms_app_id);
	free(cfg.hms_client_secret);
	free(cfg.webhook_secret);
	free(cfg.outcomes_secret);
	free(cfg.honor_app_id);
	free(cfg.honor_client_id);
	free(cfg.honor_client_secret);
	free(cfg.xiaomi_app_secret);
	free(cfg.xiaomi_package_name);
	free(cfg.oppo_app_key);
	free(cfg.oppo_master_secret);
	free(cfg.meizu_app_id);
	free(cfg.meizu_app_secret);
	free(cfg.vivo_app_id);
	free(cfg.vivo_app_key);
	free(cfg.vivo_app_secret);
	free(cfg.harmony_project_id);
	free(cfg.harmony_sub_account);
	free(cfg.harmony_key_id);
	EVP_PKEY_free(cfg.harmony_key);
	memset(&cfg, 0, sizeof(cfg));
}
