-- Allocations are the largest table: incremental on mod_ts (a row changed in the WMS is read
-- again and replaces its older version). A soft-deleted allocation leaves the view but stays
-- here until `dbt build --full-refresh` (run it after each full sync).
{{ config(materialized='incremental', unique_key='allocation_id', on_schema_change='append_new_columns') }}

select
    id as allocation_id,
    order_dtl_id,
    status_id,
    alloc_qty,
    packed_qty,
    type_key,
    wave_key,
    create_ts,
    mod_ts
from {{ source('gruponos', 'allocation') }}
{% if is_incremental() %}
where mod_ts >= (select max(mod_ts) from {{ this }})
{% endif %}
