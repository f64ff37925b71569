with first_events as (

    select order_id, channel
    from {{ ref('platform', 'order_events') }}
    where event_type = 'created'

)

select
    orders.order_id,
    orders.customer_name,
    orders.amount,
    first_events.channel as first_channel,
    lag(orders.amount) over (partition by orders.customer_id order by orders.customer_order_number)
        as previous_amount

from {{ ref('platform', 'orders') }} as orders
left join first_events on first_events.order_id = orders.order_id
where orders.status <> 'returned'
