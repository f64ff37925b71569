select customer_id
from {{ ref('platform', 'customer_stats') }}
