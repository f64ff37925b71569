with

orders as (select * from {{ ref('stg_orders') }}),

customers as (select * from {{ ref('stg_customers') }}),

events as (

    select order_id, count(*) as event_count, max(event_at) as last_event_at
    from {{ ref('stg_events') }}
    group by order_id

)

select
    orders.order_id,
    orders.customer_id,
    orders.ordered_at,
    orders.status,
    cast(orders.amount as numeric(18, 3)) as amount,
    customers.customer_name,
    customers.region,
    row_number() over (partition by orders.customer_id order by orders.ordered_at, orders.order_id)
        as customer_order_number,
    coalesce(events.event_count, 0) as event_count,
    events.last_event_at

from orders
left join customers on customers.customer_id = orders.customer_id
left join events on events.order_id = orders.order_id
