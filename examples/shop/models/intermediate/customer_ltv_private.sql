-- Lifetime value per customer. Private to the sales group: only sales marts may
-- build on it; the public `customers` mart exposes the result.
with order_payments as (

    select * from {{ ref('int_order_payments') }}

)

select
    customer_id,
    min(order_date) as first_order_date,
    max(order_date) as most_recent_order_date,
    count(*) as number_of_orders,
    sum(case when status = 'returned' then 0 else amount_cents end) as lifetime_value_cents
from order_payments
group by customer_id
