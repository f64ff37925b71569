select
    orders.order_id,
    orders.status,
    events.event_type,
    events.channel

from {{ ref('stg_orders') }} as orders
left join {{ ref('stg_events') }} as events on events.order_id = orders.order_id
