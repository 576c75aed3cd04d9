-- One row per live order line.
select
    id as order_dtl_id,
    order_id,
    seq_nbr,
    item_key,
    status_id,
    ord_qty,
    create_ts,
    mod_ts
from {{ source('gruponos', 'order_dtl') }}
