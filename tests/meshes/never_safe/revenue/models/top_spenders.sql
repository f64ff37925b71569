select customer_id, lifetime_spend
from {{ ref('platform', 'customer_stats') }}
where lifetime_spend > 1000
