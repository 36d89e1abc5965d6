using NodeKeeper.Core.Config;
using static NodeKeeper.Core.Tests.Config.ConfigKit;

namespace NodeKeeper.Core.Tests.Config;

/// <summary>cron_restart: read as cron and PM2 write it, refused with the reason, and its next times.</summary>
public class CronScheduleTests
{
    [Theory]
    [InlineData("0 3 * * *", "2026-12-04T10:00:00Z", "2026-12-05T03:00:00Z")]
    [InlineData("*/15 * * * *", "2026-12-04T10:07:00Z", "2026-12-04T10:15:00Z")]
    [InlineData("30 */10 * * * *", "2026-12-04T10:00:31Z", "2026-12-04T10:10:30Z")]
    [InlineData("0 0 * * MON", "2026-12-04T10:00:00Z", "2026-12-07T00:00:00Z")]
    [InlineData("@daily", "2026-12-04T10:00:00Z", "2026-12-05T00:00:00Z")]
    public void The_next_time_follows_the_expression(string expression, string after, string next) =>
        CronSchedule.Next(expression, DateTimeOffset.Parse(after), TimeZoneInfo.Utc).Should().Be(DateTimeOffset.Parse(next));

    [Fact]
    public void A_valid_expression_is_kept_and_a_bad_one_is_an_error_at_its_place()
    {
        LoadApp(App("cron_restart = \" 0 3 * * * \"")).CronRestart.Should().Be("0 3 * * *");
        Errors(App("cron_restart = \"every night\"")).Should().ContainSingle()
            .Which.Should().StartWith("nodekeeper.toml:4:16: cron_restart must be a cron expression such as \"0 3 * * *\" (minute hour day month weekday), got \"every night\": ");
        Errors(App("cron_restart = \"0 0 30 2 *\"")).Should().ContainSingle().Which.Should().EndWith("it never comes (such as 30 February)");
        LoadApp(App()).CronRestart.Should().BeNull();
    }
}
