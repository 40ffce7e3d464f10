-- The app (tenant) and its push plans: the push plan guide's 618 campaign and a retention plan for the
-- multilingual overseas users. Every app also has the plan 'default'.
\set ECHO queries
SELECT push_app_create(:'app', 'Shop (e-commerce, CN + overseas)') \g /dev/null
SELECT push_app_set(:'app', '{"timezone": "Asia/Shanghai"}') \g /dev/null
SELECT push_plan_create(:'app', 'promo_618_2025', '618 大促推送计划') \g /dev/null
SELECT push_plan_create(:'app', 'retention_2025q3', '回流提醒 win-back: US / IN / PH, multi-language') \g /dev/null
\set ECHO none

SELECT app, name, settings FROM apps WHERE app = :'app';
SELECT plan_id, description, is_default, task_count FROM push_plans
WHERE app = :'app' ORDER BY is_default DESC, plan_id;
