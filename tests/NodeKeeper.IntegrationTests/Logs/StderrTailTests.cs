using System.Text;
using NodeKeeper.Daemon.Supervision;

namespace NodeKeeper.IntegrationTests.Logs;

/// <summary>The last bytes of an instance's stderr: held only as they come, in order, never more than the capacity.</summary>
public sealed class StderrTailTests
{
    [Fact]
    public void It_keeps_the_last_bytes_in_order_as_it_grows_and_wraps_and_a_clear_forgets_them()
    {
        var tail = new StderrTail(capacity: 10_000);
        tail.Text().Should().BeEmpty();
        var all = new StringBuilder();
        for (var i = 0; i < 2000; i++)
        {
            var line = $"line {i}\n";
            all.Append(line);
            tail.Append(Encoding.UTF8.GetBytes(line));
            var expected = all.ToString();
            tail.Text().Should().Be(expected.Length <= 10_000 ? expected : expected[^10_000..]);
        }
        tail.Append(Encoding.UTF8.GetBytes(new string('x', 25_000) + "end\n"));
        tail.Text().Should().Be(new string('x', 9_996) + "end\n");
        tail.Clear();
        tail.Text().Should().BeEmpty();
        tail.Append("again\n"u8);
        tail.Text().Should().Be("again\n");
    }
}
