# One clock for the whole portal, in every language: ISO-like dates with seconds and the zone, shown in
# TIME_ZONE (e.g. 2026-11-28 15:56:52 KST). Member pages, the admin, emails and the CSV all use these.
DATETIME_FORMAT = "Y-m-d H:i:s T"
SHORT_DATETIME_FORMAT = DATETIME_FORMAT
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = DATE_FORMAT
TIME_FORMAT = "H:i:s"
