with customers as (

    select * from {{ ref('stg_customers') }}

),

customer_ltv as (

    select * from {{ ref('customer_ltv_private') }}

)

select
    customers.customer_id,
    customers.first_name,
    customers.last_name,
    customers.email,
    customers.country_code,
    customers.signup_date,
    customer_ltv.first_order_date,
    customer_ltv.most_recent_order_date,
    cast(coalesce(customer_ltv.number_of_orders, 0) as bigint) as number_of_orders,
    cast(coalesce(customer_ltv.lifetime_value_cents, 0) / 100 as decimal(18, 2)) as lifetime_value
from customers
left join customer_ltv
    on customers.customer_id = customer_ltv.customer_id
