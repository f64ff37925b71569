select
    customer_id,
    count(*) as order_count,
    sum(subtotal) as lifetime_spend
from {{ ref('raw_orders') }}
group by customer_id
order by customer_id using <
