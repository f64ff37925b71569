select
    events.event_id,
    events.event_type,
    events.channel,
    events.event_at,
    events.order_id,
    orders.status as order_status,
    orders.customer_id,
    lag(events.event_at) over (partition by events.order_id order by events.event_at, events.event_id)
        as previous_event_at

from {{ ref('stg_events') }} as events
left join {{ ref('stg_orders') }} as orders on orders.order_id = events.order_id
