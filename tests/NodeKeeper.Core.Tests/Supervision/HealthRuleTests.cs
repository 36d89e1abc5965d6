using NodeKeeper.Core.Config;
using NodeKeeper.Core.Supervision;

namespace NodeKeeper.Core.Tests.Supervision;

public sealed class HealthRuleTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);
    private static readonly HealthSpec Health = new("http://127.0.0.1:3000/", TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(2), 3,
        TimeSpan.FromMilliseconds(200));

    [Fact]
    public void Failures_in_a_row_restart_at_the_configured_count_and_the_count_starts_over()
    {
        var n = 0;
        var seen = new List<HealthCount>();
        foreach (var failed in new[] { true, true, false, true, true, true, true })
        {
            var c = HealthRule.Probe(Health, n, failed);
            seen.Add(c);
            n = c.Kept;
        }
        seen.Select(c => c.InARow).Should().Equal(1, 2, 0, 1, 2, 3, 1);
        seen.Select(c => c.Restart).Should().Equal(false, false, false, false, false, true, false);
    }

    [Fact]
    public void An_idle_preload_reports_every_5_s_or_within_half_the_stall_time_and_never_more_often_than_its_interval()
    {
        var second = TimeSpan.FromSeconds(1);
        HealthRule.Quiet(null, second).Should().Be(TimeSpan.FromSeconds(5));
        HealthRule.Quiet(Health, second).Should().Be(TimeSpan.FromSeconds(3), "timeout 2 s × 3 failures: a stall after 6 s, so a report every 3 s at least");
        HealthRule.Quiet(Health with { Timeout = TimeSpan.FromMilliseconds(500), Failures = 1 }, second).Should().Be(second,
            "a stall rule of 500 ms cannot be met by reports a second apart; the preload then reports every interval, as it did");
        HealthRule.Quiet(Health with { Timeout = TimeSpan.FromSeconds(30) }, second).Should().Be(TimeSpan.FromSeconds(5));
        HealthRule.Quiet(null, TimeSpan.FromSeconds(10)).Should().Be(TimeSpan.FromSeconds(10), "NK_METRICS_MS above 5 s");
    }

    [Fact]
    public void An_event_loop_is_stalled_after_timeout_times_failures_without_a_report()
    {
        HealthRule.StallAfter(Health).Should().Be(TimeSpan.FromSeconds(6));
        HealthRule.Stalled(Health, T0, T0.AddSeconds(6)).Should().BeFalse();
        HealthRule.Stalled(Health, T0, T0.AddSeconds(6.1)).Should().BeTrue();
    }

    [Fact]
    public void Lag_above_max_lag_in_failures_reports_in_a_row_restarts_and_each_report_counts_once()
    {
        var watch = default(LagWatch);
        var restarts = new List<bool>();
        foreach (var (second, p99) in new[] { (1, 250.0), (2, 300.0), (3, 150.0), (4, 201.0), (5, 900.0), (6, 210.0) })
        {
            var judged = HealthRule.Lag(Health, watch, T0.AddSeconds(second), p99);
            judged.Should().NotBeNull();
            (watch, var restart) = judged!.Value;
            restarts.Add(restart);
        }
        restarts.Should().Equal(false, false, false, false, false, true);
        watch.InARow.Should().Be(3);
        HealthRule.Lag(Health, watch, watch.Seen, 900).Should().BeNull("the same report is judged once");
    }

    [Fact]
    public void A_p99_at_max_lag_is_within_it_and_without_max_lag_nothing_is_judged()
    {
        HealthRule.Lag(Health, default, T0, 200)!.Value.Watch.InARow.Should().Be(0);
        HealthRule.Lag(Health with { MaxLag = null }, default, T0, 10_000).Should().BeNull();
    }

    [Fact]
    public void In_increment_mode_a_url_on_the_apps_port_is_probed_on_each_instances_own_port()
    {
        var spec = Driver.BaseSpec() with
        {
            Port = 3000, PortMode = PortMode.Increment, Health = Health with { Url = "http://127.0.0.1:3000/health?deep=1" },
        };

        HealthRule.InstanceUrl(spec, 0).Should().Be("http://127.0.0.1:3000/health?deep=1");
        HealthRule.InstanceUrl(spec, 2).Should().Be("http://127.0.0.1:3002/health?deep=1");
        HealthRule.InstanceUrl(spec with { PortMode = PortMode.Shared }, 1).Should().BeNull("a shared port answers from any instance: the app is probed as a whole");
        HealthRule.InstanceUrl(spec with { Health = Health with { Url = "http://127.0.0.1:9100/" } }, 1).Should().BeNull("a URL on another port is the app's");
        HealthRule.InstanceUrl(spec with { Health = null }, 0).Should().BeNull();
    }
}
