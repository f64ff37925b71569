with source as (

    select * from {{ ref('raw_customers') }}

)

select
    id as customer_id,
    first_name,
    last_name,
    lower(email) as email,
    upper(country_code) as country_code,
    cast(signup_date as date) as signup_date
from source
