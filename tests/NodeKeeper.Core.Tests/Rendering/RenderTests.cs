using NodeKeeper.Core.Protocol;
using NodeKeeper.Core.Rendering;

namespace NodeKeeper.Core.Tests.Rendering;

/// <summary>What `nk` prints is told as of the moment its caller gives: Core reads no clock.</summary>
public class RenderTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 2, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(1, null, "crash (code 1) 3m ago")]
    [InlineData(null, "SIGKILL", "crash (SIGKILL) 3m ago")]
    public void A_last_exit_is_told_with_how_long_ago_it_was(int? code, string? signal, string text) =>
        Render.LastExit(new LastExit(code, signal, "crash", Now.AddMinutes(-3)), Now).Should().Be(text);

    [Fact]
    public void No_last_exit_is_a_dash() => Render.LastExit(null, Now).Should().Be("-");

    [Fact]
    public void An_exit_stamped_after_now_is_no_time_ago_not_a_negative_one() =>
        Render.LastExit(new LastExit(0, null, "exit", Now.AddSeconds(2)), Now).Should().Be("exit (code 0) 0ms ago");

    [Fact]
    public void Under_the_status_table_one_line_names_the_apps_that_are_not_node_by_program()
    {
        InstanceInfo Row(string name, int i, string program) => new() { Name = name, Instance = i, Status = "online", Program = program };
        var rows = new[] { Row("api", 0, "node"), Row("py", 0, "python3"), Row("py", 1, "python3"), Row("jobs", 0, "python3"), Row("web", 0, "none") };

        Render.NotNodeLine(rows).Should().Be(
            "not node, watched from outside (no event-loop, heap or HTTP figures, no captures, no shared port): py, jobs (python3); web (program)\n");
        Render.NotNodeLine([Row("api", 0, "node")]).Should().BeEmpty();
        Render.StatusTable(rows, Now).Should().EndWith("web (program)\n");
    }
}
