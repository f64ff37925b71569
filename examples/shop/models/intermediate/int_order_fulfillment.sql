-- Fulfilment milestones per order, derived from the order-tracking events.
with events as (

    select * from {{ ref('stg_order_events') }}

)

select
    order_id,
    arg_min(channel, event_at) as order_channel,
    min(case when event_type = 'shipped' then event_at end) as shipped_at,
    min(case when event_type = 'delivered' then event_at end) as delivered_at,
    count(*) as event_count
from events
group by order_id
