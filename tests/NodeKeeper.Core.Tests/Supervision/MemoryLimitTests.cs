using NodeKeeper.Core.Supervision;

namespace NodeKeeper.Core.Tests.Supervision;

public sealed class MemoryLimitTests
{
    private const long Max = 100L << 20;

    [Theory]
    [InlineData(InstanceStatus.Online, Max + 1, true)]
    [InlineData(InstanceStatus.Starting, Max + 1, true)]
    [InlineData(InstanceStatus.Online, Max, false)]
    [InlineData(InstanceStatus.Stopping, Max * 2, false)]
    [InlineData(InstanceStatus.Backoff, Max * 2, false)]
    [InlineData(InstanceStatus.Stopped, Max * 2, false)]
    [InlineData(InstanceStatus.Errored, Max * 2, false)]
    public void A_starting_or_online_tree_above_max_memory_is_restarted(InstanceStatus status, long rss, bool restart)
    {
        MemoryLimit.Passed(Max, rss, status).Should().Be(restart);
    }

    [Fact]
    public void Without_max_memory_no_size_restarts()
    {
        MemoryLimit.Passed(null, long.MaxValue, InstanceStatus.Online).Should().BeFalse();
    }
}
