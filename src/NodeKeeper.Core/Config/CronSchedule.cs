using Cronos;

namespace NodeKeeper.Core.Config;

/// <summary>
/// cron_restart's expressions, as cron and PM2 write them: five fields (minute hour day-of-month month day-of-week), or
/// six with seconds first; names (MON, JAN), ranges, steps and @daily-style macros. Times are the daemon's local time
/// zone, across daylight-saving changes as Cronos handles them (a skipped time runs once after the jump, a repeated one once).
/// </summary>
public static class CronSchedule
{
    private static CronExpression Parse(string text)
    {
        var t = text.Trim();
        var fields = t.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;
        return CronExpression.Parse(t, fields == 6 ? CronFormat.IncludeSeconds : CronFormat.Standard);
    }

    /// <summary>Why the text is not a cron expression (one clause), or null.</summary>
    public static string? Validate(string text)
    {
        try
        {
            var e = Parse(text);
            return e.GetNextOccurrence(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero), TimeZoneInfo.Utc) is null
                ? "it never comes (such as 30 February)" : null;
        }
        catch (CronFormatException ex) { return ex.Message.TrimEnd('.'); }
    }

    /// <summary>The first time strictly after <paramref name="after"/> that the (valid) expression names, in <paramref name="zone"/>.</summary>
    public static DateTimeOffset? Next(string text, DateTimeOffset after, TimeZoneInfo zone) => Parse(text).GetNextOccurrence(after, zone);
}
