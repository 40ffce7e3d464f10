-- Seed 003's cart abandoned flow, the in-database way: the shop's own tables report what
-- happens with triggers that call push_track, so a flow starts (or exits) only with what
-- commits. add to cart -> wait for a purchase (5 seconds here; an hour in real life) -> no
-- purchase: a reminder with the cart's item in it; a purchase during the wait: the flow exits
-- in the order's own transaction, and nothing is sent.
\set ECHO none
-- three shoppers, Android phones served by FCM
CREATE TABLE public.shoppers AS
SELECT (ARRAY['ann', 'bo', 'cy'])[row_number() OVER (ORDER BY registration_id)] AS shopper, registration_id
FROM (SELECT registration_id FROM push_devices
      WHERE app = :'app' AND reachable AND platform = 'android' AND vendor = 'fcm'
      ORDER BY registration_id LIMIT 3) d;
\set ECHO queries
CREATE TABLE public.cart_items (id bigserial PRIMARY KEY, shopper text NOT NULL, item text NOT NULL);
CREATE TABLE public.orders (id bigserial PRIMARY KEY, shopper text NOT NULL, total numeric NOT NULL);
CREATE FUNCTION public.cart_items_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pushplan.push_track('shop', (SELECT registration_id FROM public.shoppers s WHERE s.shopper = NEW.shopper),
                                'cart_add', jsonb_build_object('item', NEW.item));
    RETURN NEW;
END $$;
CREATE TRIGGER cart_items_track AFTER INSERT ON public.cart_items FOR EACH ROW EXECUTE FUNCTION public.cart_items_track();
CREATE FUNCTION public.orders_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pushplan.push_track('shop', (SELECT registration_id FROM public.shoppers s WHERE s.shopper = NEW.shopper),
                                'purchase', jsonb_build_object('order_id', NEW.id, 'total', NEW.total));
    RETURN NEW;
END $$;
CREATE TRIGGER orders_track AFTER INSERT ON public.orders FOR EACH ROW EXECUTE FUNCTION public.orders_track();

SELECT push_flow_create(:'app', $${"name": "cart_abandoned", "plan_id": "promo_618_2025",
  "trigger": {"event": "cart_add"},
  "steps": [{"id": "wait_for_order", "wait_until": {"event": "purchase", "timeout": "5 seconds"},
             "on_timeout": [{"id": "reminder", "send": {"body": {"platform": "all",
                "notification": {"alert": "Your {{event.props.item}} is waiting, {{attrs.city | default: \"friend\"}}: free delivery today",
                                 "android": {"title": "Still in your cart"}}}}}]}],
  "exit": {"event": "purchase"}, "reentry": "1 day"}$$) AS flow_id \gset

-- ann leaves her cart; bo buys during the wait; cy's cart is rolled back
INSERT INTO public.cart_items (shopper, item) VALUES ('ann', 'trail shoes'), ('bo', 'rain jacket');
BEGIN;
INSERT INTO public.cart_items (shopper, item) VALUES ('cy', 'tent');
ROLLBACK;
BEGIN;
INSERT INTO public.orders (shopper, total) VALUES ('bo', 89);
COMMIT;
\set ECHO none
\echo 'right after the order''s COMMIT (one SELECT): bo''s run has already ended, cy never entered'
SELECT s.shopper, coalesce(r.state, '(never entered)') AS state, coalesce(r.exit_reason, '') AS exit_reason
FROM public.shoppers s LEFT JOIN push_flow_runs r ON r.registration_id = s.registration_id AND r.flow_id = :'flow_id'
ORDER BY s.shopper;
