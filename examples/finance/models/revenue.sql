-- Daily recognised revenue by order status. Revenue is recognised once an
-- order has left the warehouse, so orders that are only placed are excluded.
with orders as (

    select
        order_id,
        order_date,
        status,
        amount,
        coupon_amount
    from {{ ref('shop', 'orders') }}

)

select
    order_date as revenue_date,
    status as order_status,
    count(order_id) as order_count,
    cast(sum(amount) as decimal(18, 2)) as gross_revenue,
    cast(sum(amount - coupon_amount) as decimal(18, 2)) as net_revenue
from orders
where status <> 'placed'
group by order_date, status
