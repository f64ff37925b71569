select
    id as order_id,
    customer_id,
    subtotal,
    status
from {{ ref('raw_orders') }}
