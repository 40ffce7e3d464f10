-- Push plans.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
RESET client_min_messages;
SET search_path = pushplan, public;
\set SHOW_CONTEXT never

SELECT push_app_create('plan_app');
SELECT push_plan_create('plan_app', 'promo_618_2025', '618 大促推送计划');
SELECT push_plan_create('plan_app', 'VIP_Level-15.v2:a');
SELECT app, plan_id, description, is_default, task_count FROM push_plans WHERE app = 'plan_app' ORDER BY plan_id;

SELECT push_plan_update('plan_app', 'promo_618_2025', '618 campaign');
SELECT description FROM push_plans WHERE app = 'plan_app' AND plan_id = 'promo_618_2025';

-- errors; nothing written
SELECT push_plan_create('plan_app', 'promo_618_2025');
SELECT push_plan_create('plan_app', 'default');
SELECT push_plan_create('plan_app', '');
SELECT push_plan_create('plan_app', 'has space');
SELECT push_plan_create('plan_app', repeat('p', 65));
SELECT push_plan_create('plan_app', 'long_text', repeat('d', 501));
SELECT push_plan_create('nope', 'x');
SELECT push_plan_update('plan_app', 'default', 'mine now');
SELECT push_plan_update('plan_app', 'missing', 'x');
SELECT push_plan_update('plan_app', 'promo_618_2025', repeat('d', 501));
-- shown in views and dashboards: line breaks and tabs, but no escapes or other controls (92945)
SELECT push_plan_create('plan_app', 'escape', E'618 \x1b[31mred\x1b[0m');
SELECT push_plan_update('plan_app', 'promo_618_2025', E'del \x7f');
SELECT push_plan_update('plan_app', 'promo_618_2025', E'c1 \u0085');
SELECT push_plan_update('plan_app', 'promo_618_2025', E'line one\r\nline two\tend') IS NOT NULL AS lines_and_tabs_kept;
SELECT description = E'line one\r\nline two\tend' AS stored FROM plans WHERE plan_id = 'promo_618_2025';
SELECT count(*) AS escape_plans FROM plans WHERE plan_id = 'escape';
SELECT push_plan_update('plan_app', 'promo_618_2025', '618 campaign') IS NOT NULL AS restored;
SELECT push_plan_delete('plan_app', 'default');
SELECT push_plan_delete('plan_app', 'missing');
SELECT app, plan_id, description, is_default, task_count FROM push_plans WHERE app = 'plan_app' ORDER BY plan_id;

-- a plan with tasks keeps its statistics: it cannot be deleted
INSERT INTO tasks (task_id, app_id, plan_id, push)
    SELECT 't-1', app_id, 'promo_618_2025', '{}' FROM apps WHERE app = 'plan_app';
SELECT plan_id, task_count FROM push_plans WHERE app = 'plan_app' AND plan_id = 'promo_618_2025';
SELECT push_plan_delete('plan_app', 'promo_618_2025');
SELECT push_plan_delete('plan_app', 'VIP_Level-15.v2:a');
SELECT plan_id FROM push_plans WHERE app = 'plan_app' ORDER BY plan_id;
-- plans are per app
SELECT push_app_create('plan_app2');
SELECT push_plan_create('plan_app2', 'promo_618_2025');
SELECT app, plan_id FROM push_plans WHERE plan_id = 'promo_618_2025' ORDER BY app;
