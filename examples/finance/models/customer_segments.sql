-- Value segment per invoiced customer, from kept (non-returned) orders and the
-- shop's lifetime value.
with customer_orders as (

    select
        customer_id,
        customer_name,
        order_status,
        amount
    from {{ ref('customer_orders') }}

),

customers as (

    select
        customer_id,
        first_order_date,
        lifetime_value
    from {{ ref('shop', 'customers') }}

),

kept_orders as (

    select
        customer_id,
        customer_name,
        count(*) as kept_order_count,
        sum(amount) as kept_spend
    from customer_orders
    where order_status <> 'returned'
    group by customer_id, customer_name
    having sum(amount) > 0

)

select
    kept_orders.customer_id,
    kept_orders.customer_name,
    customers.first_order_date,
    kept_orders.kept_order_count,
    cast(kept_orders.kept_spend as decimal(18, 2)) as kept_spend,
    customers.lifetime_value,
    case
        when customers.lifetime_value >= 150 then 'gold'
        when customers.lifetime_value >= 60 then 'silver'
        else 'bronze'
    end as value_segment
from kept_orders
inner join customers
    on kept_orders.customer_id = customers.customer_id
