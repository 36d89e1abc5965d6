using NodeKeeper.Core.Protocol;
using NodeKeeper.Core.Supervision;

namespace NodeKeeper.Core.Tests.Supervision;

/// <summary>Following the instances a command touched until each has settled: the lines nk prints.</summary>
public class SettleWatchTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 2, 12, 0, 0, TimeSpan.Zero);
    private static readonly Touched Web0 = new("web", 0, StartsBefore: 1), Web1 = new("web", 1, StartsBefore: 1), Job0 = new("job", 0, 0);

    [Fact]
    public void Ready_instances_leave_no_line_and_the_watch_is_done_once_all_settled()
    {
        var watch = new SettleWatch([Web0, Web1]);
        var states = new Dictionary<Touched, InstanceState> { [Web0] = new(InstanceStatus.Online, Starts: 2), [Web1] = new(InstanceStatus.Starting, Starts: 2) };

        watch.Update(t => states[t], Now).Should().BeFalse("web:1 is still starting");
        states[Web1] = new(InstanceStatus.Online, Starts: 2);
        watch.Update(t => states[t], Now).Should().BeTrue();

        watch.Failures.Should().BeEmpty();
    }

    [Fact]
    public void A_failed_instance_and_a_gone_one_are_each_a_line()
    {
        var exit = new ExitInfo(null, "SIGKILL", ExitReasons.OomKernel, Now.AddMinutes(-5));
        var watch = new SettleWatch([Web0, Web1, Job0]);

        watch.Update(t => t == Web0 ? new InstanceState(InstanceStatus.Errored, Starts: 3, LastExit: exit)
            : t == Job0 ? new InstanceState(InstanceStatus.Online, Starts: 1) : null, Now).Should().BeTrue();

        watch.Failures.Should().Equal("web:0 is errored, last exit: oom_kernel (SIGKILL) 5m ago", "web:1 is gone");
    }

    [Fact]
    public void At_the_deadline_what_is_still_pending_did_not_become_ready()
    {
        var watch = new SettleWatch([Web0, Job0]);
        watch.Update(t => t == Job0 ? new InstanceState(InstanceStatus.Online, Starts: 1) : new InstanceState(InstanceStatus.Stopped, Starts: 1), Now);

        watch.Expire(TimeSpan.FromSeconds(60));

        watch.Failures.Should().Equal("web:0 is still not ready after 60s");
        watch.Update(_ => null, Now).Should().BeTrue("nothing is left to follow");
    }
}
