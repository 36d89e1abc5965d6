using NodeKeeper.Core.Config;
using NodeKeeper.Core.Supervision;

namespace NodeKeeper.Core.Tests.Supervision;

public class ReloadVerdictTests
{
    private static readonly ReloadSpec Spec = ReloadSpec.Default;

    [Fact]
    public void A_canary_failing_a_fifth_of_its_requests_is_worse_after_about_25_of_them()
    {
        var old = new Outcomes(400, 0);
        ReloadVerdict.OfCanary(new VersionFigures(new Outcomes(20, 4), old), Spec).Worse.Should().BeFalse("4 failures are fewer than min_failed");
        var verdict = ReloadVerdict.OfCanary(new VersionFigures(new Outcomes(25, 5), old), Spec);
        verdict.Worse.Should().BeTrue();
        verdict.Reason.Should().Be("failed_requests");
        verdict.Evidence.Should().Equal("the new version: 5 of 25 failed (20 %); the old version: 0 of 400 failed (0 %)");
    }

    [Fact]
    public void A_quiet_app_is_not_judged_on_a_few_unlucky_requests()
    {
        // Two requests, both failed: 100 %, but two requests say little.
        ReloadVerdict.OfCanary(new VersionFigures(new Outcomes(2, 2), new Outcomes(3, 0)), Spec).Worse.Should().BeFalse();
        // Five failures of six, against an old version that failed two of three: no significant difference.
        ReloadVerdict.OfCanary(new VersionFigures(new Outcomes(6, 5), new Outcomes(3, 2)), Spec).Worse.Should().BeFalse();
    }

    [Fact]
    public void A_version_as_bad_as_the_old_one_or_a_little_worse_is_not_worse()
    {
        // Both fail 10 %.
        ReloadVerdict.OfCanary(new VersionFigures(new Outcomes(1000, 100), new Outcomes(3000, 300)), Spec).Worse.Should().BeFalse();
        // 0.5 points more, on many requests: significant, but within max_failed_increase (1 point).
        ReloadVerdict.OfCanary(new VersionFigures(new Outcomes(100_000, 1500), new Outcomes(300_000, 3000)), Spec).Worse.Should().BeFalse();
        // Raising the allowance lets a clearly worse version through; lowering min_failed decides sooner.
        var worse = new VersionFigures(new Outcomes(1000, 60), new Outcomes(3000, 30));
        ReloadVerdict.OfCanary(worse, Spec).Worse.Should().BeTrue();
        ReloadVerdict.OfCanary(worse, Spec with { MaxFailedIncrease = 0.10 }).Worse.Should().BeFalse();
        ReloadVerdict.OfCanary(new VersionFigures(new Outcomes(3, 3), new Outcomes(300, 0)), Spec with { MinFailed = 3 }).Worse.Should().BeTrue();
    }

    [Fact]
    public void With_no_traffic_on_the_old_version_the_count_and_the_ratio_decide()
    {
        ReloadVerdict.OfCanary(new VersionFigures(new Outcomes(50, 10), new Outcomes(0, 0)), Spec).Worse.Should().BeTrue();
        ReloadVerdict.OfCanary(new VersionFigures(new Outcomes(50, 0), new Outcomes(0, 0)), Spec).Worse.Should().BeFalse();
    }

    [Fact]
    public void One_crash_retires_a_canary_but_after_the_cut_over_it_takes_a_second_or_errored()
    {
        var quiet = new Outcomes(0, 0);
        ReloadVerdict.OfCanary(new VersionFigures(quiet, quiet, NewExits: 1), Spec).Reason.Should().Be("crashed");
        ReloadVerdict.AfterCutOver(new VersionFigures(quiet, quiet, NewExits: 1), Spec).Worse.Should().BeFalse();
        ReloadVerdict.AfterCutOver(new VersionFigures(quiet, quiet, NewExits: 2), Spec).Reason.Should().Be("crashed");
        ReloadVerdict.AfterCutOver(new VersionFigures(quiet, quiet, NewErrored: true), Spec).Reason.Should().Be("errored");
    }

    [Fact]
    public void An_event_loop_or_memory_growth_far_worse_than_the_old_one_is_worse()
    {
        var none = new Outcomes(100, 0);
        ReloadVerdict.OfCanary(new VersionFigures(none, none, NewLagMs: 450, OldLagMs: 12), Spec).Reason.Should().Be("event_loop");
        ReloadVerdict.OfCanary(new VersionFigures(none, none, NewLagMs: 90, OldLagMs: 2), Spec).Worse.Should().BeFalse("under 100 ms more");
        ReloadVerdict.OfCanary(new VersionFigures(none, none, NewLagMs: 700, OldLagMs: 300), Spec).Worse.Should().BeFalse("not 4 times the old one");
        ReloadVerdict.AfterCutOver(new VersionFigures(none, none, NewLagMs: 133, OldLagMs: 0), Spec).Reason.Should().Be("event_loop", "an old delay of 0 is known");
        // The old version's delay unknown (fewer than 5 reports): the event loop is not judged, whatever the new one's.
        ReloadVerdict.AfterCutOver(new VersionFigures(none, none, NewLagMs: 133), Spec).Worse.Should().BeFalse("a good version on a busy machine");
        ReloadVerdict.OfCanary(new VersionFigures(none, none, NewLagMs: 2000), Spec).Worse.Should().BeFalse();
        ReloadVerdict.OfCanary(new VersionFigures(none, none, NewGrowthMbPerMin: 45), Spec).Reason.Should().Be("memory_growth");
        ReloadVerdict.OfCanary(new VersionFigures(none, none, NewGrowthMbPerMin: 45, OldGrowthMbPerMin: 10), Spec).Worse.Should().BeFalse();
        ReloadVerdict.OfCanary(new VersionFigures(none, none, NewGrowthMbPerMin: 15), Spec).Worse.Should().BeFalse();
    }
}
