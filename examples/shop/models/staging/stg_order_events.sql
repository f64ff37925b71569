with source as (

    select * from {{ source('raw', 'order_events') }}

)

select
    cast(event_id as bigint) as event_id,
    cast(order_id as integer) as order_id,
    lower(event_type) as event_type,
    cast(event_ts as timestamp) as event_at,
    channel
from source
