with

customers as (select * from {{ ref('stg_customers') }}),

order_totals as (

    select
        customer_id,
        count(*) as order_count,
        sum(amount) filter (where status <> 'returned') as kept_amount,
        min(ordered_at) as first_ordered_at

    from {{ ref('stg_orders') }}
    group by customer_id

)

select
    customers.customer_id,
    customers.customer_name,
    customers.email,
    customers.region,
    coalesce(order_totals.order_count, 0) as order_count,
    coalesce(order_totals.kept_amount, 0) as lifetime_value,
    order_totals.first_ordered_at

from customers
left join order_totals on order_totals.customer_id = customers.customer_id
