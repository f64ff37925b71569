-- One row per order of an invoiced customer, with the customer's order sequence
-- and running spend. Orders from marketplace countries (BR, JP) are invoiced by
-- our reseller and are not part of finance reporting.
with customers as (

    select * from {{ ref('shop', 'customers') }}

),

invoiced_customers as (

    select
        customer_id,
        first_name,
        last_name
    from customers
    where country_code not in ('BR', 'JP')

),

orders as (

    select
        order_id,
        customer_id,
        order_date,
        status,
        order_channel,
        amount
    from {{ ref('shop', 'orders') }}

),

sequenced as (

    select
        orders.order_id,
        orders.customer_id,
        invoiced_customers.first_name || ' ' || invoiced_customers.last_name as customer_name,
        orders.order_date,
        orders.status as order_status,
        orders.order_channel,
        orders.amount,
        row_number() over (
            partition by orders.customer_id
            order by orders.order_date, orders.order_id
        ) as customer_order_number,
        sum(orders.amount) over (
            partition by orders.customer_id
            order by orders.order_date, orders.order_id
            rows between unbounded preceding and current row
        ) as cumulative_amount
    from orders
    inner join invoiced_customers
        on orders.customer_id = invoiced_customers.customer_id

)

select
    order_id,
    customer_id,
    customer_name,
    order_date,
    order_status,
    order_channel,
    amount,
    customer_order_number,
    cast(cumulative_amount as decimal(18, 2)) as cumulative_amount,
    case when customer_order_number = 1 then true else false end as is_first_order
from sequenced
