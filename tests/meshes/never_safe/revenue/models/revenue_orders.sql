select order_id, customer_id, subtotal
from {{ ref('platform', 'orders') }}
