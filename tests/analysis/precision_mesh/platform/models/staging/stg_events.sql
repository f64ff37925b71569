select
    event_id,
    order_id,
    event_type,
    channel,
    cast(event_ts as timestamp) as event_at
from {{ source('files', 'events') }}
