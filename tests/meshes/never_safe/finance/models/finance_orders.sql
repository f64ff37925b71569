select *
from {{ ref('platform', 'orders') }}
