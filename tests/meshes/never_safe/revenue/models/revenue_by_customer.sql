select customer_id, sum(subtotal) as revenue
from {{ ref('revenue_orders') }}
group by customer_id
