-- Apps, settings and vendor configuration.
CREATE EXTENSION pushplan;
SET search_path = pushplan, public;

SELECT push_app_create('shop', 'Shop app');
SELECT app, name, settings FROM apps WHERE app = 'shop';
SELECT plan_id, is_default FROM plans JOIN apps USING (app_id) WHERE app = 'shop';
