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
}
