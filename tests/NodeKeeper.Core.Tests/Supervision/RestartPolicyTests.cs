using NodeKeeper.Core.Config;
using NodeKeeper.Core.Supervision;

namespace NodeKeeper.Core.Tests.Supervision;

public class RestartPolicyTests
{
    private static AppSpec Spec(int delayMs = 100, int maxDelayMs = 1000) => Driver.BaseSpec() with
    {
        RestartDelay = TimeSpan.FromMilliseconds(delayMs),
        MaxRestartDelay = TimeSpan.FromMilliseconds(maxDelayMs),
    };

    [Theory]
    [InlineData(0, 0)]
    [InlineData(1, 100)]
    [InlineData(2, 200)]
    [InlineData(3, 400)]
    [InlineData(4, 800)]
    [InlineData(5, 1000)]
    [InlineData(6, 1000)]
    [InlineData(11, 1000)]
    public void Delay_doubles_per_unstable_run_up_to_max_restart_delay(int unstableRuns, int expectedMs)
    {
        RestartPolicy.Delay(Spec(), unstableRuns).Should().Be(TimeSpan.FromMilliseconds(expectedMs));
    }

    [Theory]
    [InlineData(0, 5000)]
    [InlineData(1, 5000)]
    [InlineData(5, 5000)]
    public void Fixed_restart_delay_is_the_least_wait_of_every_restart_after_a_stable_run_too(int unstableRuns, int expectedMs)
    {
        var spec = Spec(100, 15_000) with { FixedRestartDelay = TimeSpan.FromSeconds(5) };
        RestartPolicy.Delay(spec, unstableRuns).Should().Be(TimeSpan.FromMilliseconds(expectedMs));
        RestartPolicy.Delay(spec, 8).Should().Be(TimeSpan.FromSeconds(12.8), "the backoff of unstable runs grows past it");
    }

    [Fact]
    public void A_stable_run_restarts_at_once()
    {
        RestartPolicy.Delay(Spec(250, 15_000), 0).Should().Be(TimeSpan.Zero);
    }

    [Fact]
    public void Delay_never_exceeds_max_restart_delay_even_when_restart_delay_is_larger()
    {
        var spec = Spec(5000, 1000);
        RestartPolicy.Delay(spec, 1).Should().Be(TimeSpan.FromSeconds(1));
        RestartPolicy.Delay(spec, 2).Should().Be(TimeSpan.FromSeconds(1));
    }

    [Theory]
    [InlineData(63)]
    [InlineData(64)]
    [InlineData(1000)]
    [InlineData(int.MaxValue)]
    public void Delay_does_not_overflow_after_very_many_unstable_runs(int unstableRuns)
    {
        RestartPolicy.Delay(Spec(100, 15_000), unstableRuns).Should().Be(TimeSpan.FromSeconds(15));
    }

    [Fact]
    public void Zero_restart_delay_restarts_at_once()
    {
        RestartPolicy.Delay(Spec(0, 15_000), 7).Should().Be(TimeSpan.Zero);
    }

    [Theory]
    [InlineData(0, null, false)]
    [InlineData(1, null, false)]
    [InlineData(null, "SIGKILL", false)]
    public void Always_mode_never_treats_an_exit_as_final(int? code, string? signal, bool final)
    {
        RestartPolicy.IsFinalExit(Spec() with { Restart = RestartMode.Always }, code, signal).Should().Be(final);
    }

    [Theory]
    [InlineData(0, null)]
    [InlineData(1, null)]
    [InlineData(null, "SIGSEGV")]
    [InlineData(null, null)]
    public void Never_mode_treats_every_exit_as_final(int? code, string? signal)
    {
        RestartPolicy.IsFinalExit(Spec() with { Restart = RestartMode.Never }, code, signal).Should().BeTrue();
    }

    [Theory]
    [InlineData(0, null, true)]
    [InlineData(3, null, true)]
    [InlineData(1, null, false)]
    [InlineData(null, "SIGTERM", false)]
    [InlineData(null, null, false)]
    public void On_failure_mode_treats_only_stop_exit_codes_as_final(int? code, string? signal, bool final)
    {
        var spec = Spec() with { Restart = RestartMode.OnFailure, StopExitCodes = [0, 3] };
        RestartPolicy.IsFinalExit(spec, code, signal).Should().Be(final);
    }
}
