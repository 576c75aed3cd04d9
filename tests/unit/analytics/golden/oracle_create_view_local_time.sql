CREATE OR REPLACE VIEW wms_order_dtl_v AS SELECT
  "ID" AS id,
  "MOD_TS" AS mod_ts,
  CAST(FROM_TZ("MOD_TS", 'UTC') AT TIME ZONE 'America/Mexico_City' AS TIMESTAMP) AS mod_ts_local,
  "COMMENT_" AS comment_,
  "ITEM_CODE" AS item_code,
  "LEVEL_" AS level_,
  "ORD_QTY" AS ord_qty,
  "ORDER_ID" AS order_id,
  "ORDER_KEY" AS order_key,
  "RUSH_FLG" AS rush_flg,
  "SHIP_DATE" AS ship_date
FROM "WMS_ORDER_DTL"
WHERE "GNOS_DELETED_AT" IS NULL
