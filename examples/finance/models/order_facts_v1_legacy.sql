-- Nightly export to the legacy ERP, which still expects integer cents.
-- Pinned to the deprecated orders v1; migrating to v2 is on the backlog.
select
    order_id,
    customer_id,
    order_date,
    status,
    amount_cents,
    amount_cents - coupon_amount_cents as net_amount_cents
from {{ ref('shop', 'orders', v=1) }}
where status <> 'placed'
