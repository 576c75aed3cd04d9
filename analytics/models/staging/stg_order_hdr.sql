-- One row per live order header, the columns an analyst reads first.
select
    id as order_id,
    order_nbr,
    status_id,
    facility_id,
    facility_key,
    company_key,
    order_type_key,
    cust_name,
    ord_date,
    create_ts,
    mod_ts
from {{ source('gruponos', 'order_hdr') }}
