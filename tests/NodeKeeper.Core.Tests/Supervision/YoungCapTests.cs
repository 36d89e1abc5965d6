using NodeKeeper.Core.Supervision;

namespace NodeKeeper.Core.Tests.Supervision;

public sealed class YoungCapTests
{
    private const long MiB = 1 << 20;

    [Fact]
    public void An_idle_daemon_collects_once_the_cap_was_allocated_since_the_last_young_collection()
    {
        var cap = new YoungCap(2 * MiB);
        cap.Observe(3, 10 * MiB).Should().BeFalse("the first reading is the start");
        cap.Observe(3, 11 * MiB).Should().BeFalse();
        cap.Observe(3, 12 * MiB - 1).Should().BeFalse();
        cap.Observe(3, 12 * MiB).Should().BeTrue("2 MiB since the last young collection");
        // Its own collection is counted next time; allocation goes on from there.
        cap.Observe(4, 12 * MiB + 100).Should().BeFalse();
        cap.Observe(4, 14 * MiB).Should().BeFalse();
        cap.Observe(4, 14 * MiB + 100).Should().BeTrue();
    }

    [Fact]
    public void A_busy_daemon_whose_collector_runs_by_itself_is_left_alone()
    {
        var cap = new YoungCap(2 * MiB);
        cap.Observe(1, 0).Should().BeFalse();
        for (var i = 2; i < 50; i++)
            cap.Observe(i, i * 3 * MiB).Should().BeFalse("a young collection came between every two readings");
    }

    [Fact]
    public void Without_a_collection_counted_it_asks_again_only_after_another_cap()
    {
        var cap = new YoungCap(2 * MiB);
        cap.Observe(7, 0);
        cap.Observe(7, 2 * MiB).Should().BeTrue();
        cap.Observe(7, 3 * MiB).Should().BeFalse("the count did not move (a collection not taken yet): the next is 2 MiB on");
        cap.Observe(7, 4 * MiB).Should().BeTrue();
    }
}
