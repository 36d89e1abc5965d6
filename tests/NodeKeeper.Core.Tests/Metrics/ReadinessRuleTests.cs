using NodeKeeper.Core.Metrics;
using NodeKeeper.Core.Protocol;

namespace NodeKeeper.Core.Tests.Metrics;

/// <summary>The rule behind `/readyz`: which instances count against readiness, and what the body names.</summary>
public class ReadinessRuleTests
{
    private static InstanceInfo I(string name, int instance, string status) =>
        new() { Name = name, Instance = instance, Status = status, Ready = status == "online" };

    [Fact]
    public void Ready_when_every_instance_is_online() =>
        Readiness.Evaluate([I("a", 0, "online"), I("a", 1, "online")]).Should().Be(new Readiness.Result(true, "ready\n"));

    [Fact]
    public void Ready_with_no_apps() => Readiness.Evaluate([]).Ready.Should().BeTrue();

    [Fact]
    public void Stopped_instances_are_not_meant_to_run() =>
        Readiness.Evaluate([I("a", 0, "online"), I("b", 0, "stopped"), I("b", 1, "stopped")]).Ready.Should().BeTrue();

    [Theory]
    [InlineData("starting")]
    [InlineData("backoff")]
    [InlineData("stopping")]
    [InlineData("errored")]
    public void Any_other_status_is_not_ready_and_is_named(string status)
    {
        var r = Readiness.Evaluate([I("a", 0, "online"), I("b", 1, status)]);
        r.Ready.Should().BeFalse();
        r.Body.Should().Be($"not ready: 1 instance(s)\nb:1 {status}\n");
    }

    [Fact]
    public void A_long_list_is_cut_short()
    {
        var r = Readiness.Evaluate(Enumerable.Range(0, 50).Select(i => I("a", i, "starting")).ToList());
        r.Body.Split('\n', StringSplitOptions.RemoveEmptyEntries).Should().HaveCount(Readiness.MaxNamed + 2);
        r.Body.Should().Contain("and 30 more");
    }
}
