/* RFC 3339 times: parse any offset, format as UTC with nanoseconds. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "image_store.h"

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int expect(const char **p, char c)
{
    if (**p != c)
        return -1;
    (*p)++;
    return 0;
}

int timestamp_parse(const char *text, timestamp *out)
{
    static const int month_days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const char *p = text;
    int year, month, day, hour, minute, second, nanos = 0;
    if (digits(&p, 4, &year) || expect(&p, '-') || digits(&p, 2, &month) || expect(&p, '-') ||
        digits(&p, 2, &day))
        return -1;
    if (*p != 'T' && *p != 't')
        return -1;
    p++;
    if (digits(&p, 2, &hour) || expect(&p, ':') || digits(&p, 2, &minute) || expect(&p, ':') ||
        digits(&p, 2, &second))
        return -1;
    if (month < 1 || month > 12 || day < 1 || day > month_days[month - 1] || hour > 23 ||
        minute > 59 || second > 60)
        return -1;
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (month == 2 && day == 29 && !leap)
        return -1;
    if (*p == '.') {
        p++;
        int n = 0;
        for (; *p >= '0' && *p <= '9'; p++, n++)
            if (n < 9)
                nanos = nanos * 10 + (*p - '0');
        if (n == 0)
            return -1;
        for (; n < 9; n++)
            nanos *= 10;
    }
    int offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om;
        p++;
        if (digits(&p, 2, &oh) || expect(&p, ':') || digits(&p, 2, &om) || oh > 23 || om > 59)
            return -1;
        offset = sign * (oh * 3600 + om * 60);
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    if (second == 60)
        second = 59; /* a leap second has no representation in epoch time */
    int64_t days = days_from_civil(year, (unsigned)month, (unsigned)day);
    out->seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset;
    out->nanos = nanos;
    return 0;
}

void timestamp_format(timestamp t, char buf[static 40])
{
    int64_t secs = t.seconds;
    int32_t nanos = t.nanos;
    while (nanos < 0) { /* normalize */
        nanos += 1000000000;
        secs--;
    }
    secs += nanos / 1000000000;
    nanos %= 1000000000;
    time_t tt = (time_t)secs;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0)
        memset(&tm, 0, sizeof(tm)), tm.tm_year = 70, tm.tm_mday = 1;
    char wide[96]; /* the compiler cannot see that the fields are in range */
    snprintf(wide, sizeof(wide), "%04d-%02d-%02dT%02d:%02d:%02d.%09dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)nanos);
    memcpy(buf, wide, 40);
    buf[39] = '\0';
}

timestamp timestamp_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (timestamp){.seconds = ts.tv_sec, .nanos = (int32_t)ts.tv_nsec};
}
