"""A constant-velocity Kalman filter over box state, batched over many tracks.

State per track: ``cxcywh`` (centre x, centre y, width, height) and their velocities in pixels
per frame, as ``mean (N, 8)`` = the four values then the four velocities. The measurement is a
``cxcywh`` box. Noise is proportional to the box size (horizontal quantities to the width,
vertical ones to the height), as in BoT-SORT, so a near box (big, moving many pixels per frame)
may move more than a far one.

The process and measurement noise are diagonal and the motion of each coordinate only involves
its own velocity, so the 8x8 filter of SORT/ByteTrack is exactly four independent filters of
(value, velocity), one per coordinate: starting from a diagonal covariance, the cross terms
between coordinates stay zero forever. The covariance is therefore kept as ``(N, 4, 2, 2)``,
one 2x2 block per coordinate, and every step is element-wise arithmetic instead of batched 8x8
matrix products and solves (several times faster at the track counts of a camera frame).

The filter holds no tracks: it maps arrays to new arrays, so one call serves every track.
"""

from __future__ import annotations

import numpy as np

from edge.contract.errors import ConfigError

MEASUREMENT_SIZE = 4
STATE_SIZE = 2 * MEASUREMENT_SIZE
_SIZE_OF_EACH = [2, 3, 2, 3]  # which box side scales the noise of cx, cy, w, h


class BoxKalmanFilter:
    """Constant-velocity model of ``cxcywh`` boxes.

    Args:
        position_noise_per_size: standard deviation of the position (and detector) noise per
            frame, as a fraction of the box side. Raising it trusts detections more and the
            motion model less (boxes follow the detector's jitter; a person who turns is
            followed sooner); lowering it smooths more but lags behind sudden moves.
        velocity_noise_per_size: standard deviation of the velocity change per frame, as a
            fraction of the box side. Raising it lets tracks accelerate and turn, at the cost of
            predictions that drift further during occlusions and frames without detection.
    """

    def __init__(self, position_noise_per_size: float = 1 / 20, velocity_noise_per_size: float = 1 / 160):
        for name, value in (
            ("position_noise_per_size", position_noise_per_size),
            ("velocity_noise_per_size", velocity_noise_per_size),
        ):
            if not (isinstance(value, (int, float)) and np.isfinite(value) and value > 0):
                raise ConfigError(f"{name}: expected a positive fraction of the box size, got {value!r}")
        self.position_noise_per_size = float(position_noise_per_size)
        self.velocity_noise_per_size = float(velocity_noise_per_size)

    def initiate(self, cxcywh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """New tracks from their first boxes ``(N, 4)``: zero velocity, wide velocity uncertainty."""
        cxcywh = np.asarray(cxcywh, np.float64).reshape(-1, MEASUREMENT_SIZE)
        mean = np.concatenate([cxcywh, np.zeros_like(cxcywh)], axis=1)
        scale = cxcywh[:, _SIZE_OF_EACH]
        covariance = np.zeros((len(cxcywh), MEASUREMENT_SIZE, 2, 2))
        covariance[:, :, 0, 0] = (2 * self.position_noise_per_size * scale) ** 2
        covariance[:, :, 1, 1] = (10 * self.velocity_noise_per_size * scale) ** 2
        return mean, covariance

    def predict(self, mean: np.ndarray, covariance: np.ndarray, frames: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """The state ``frames`` frames later (new arrays; the inputs are not changed).

        The noise added is exactly that of ``frames`` single-frame steps (position variance grows
        with the cube of the gap through the velocity noise), with the noise scale taken from the
        box size at the start, so one call for a gap of k frames equals k calls of one frame up
        to that scale.
        """
        if frames < 0:
            raise ValueError(f"frames: expected >= 0, got {frames}")
        if frames == 0 or len(mean) == 0:
            return mean.copy(), covariance.copy()
        k = float(frames)
        value, velocity = mean[:, :MEASUREMENT_SIZE], mean[:, MEASUREMENT_SIZE:]
        new_mean = np.concatenate([value + k * velocity, velocity], axis=1)
        scale = mean[:, _SIZE_OF_EACH]
        position_var = (self.position_noise_per_size * scale) ** 2
        velocity_var = (self.velocity_noise_per_size * scale) ** 2
        # F P F' for F = [[1, k], [0, 1]], plus the sum over i < k of F^i Q F^i' for Q = diag(q_p, q_v)
        # (closed forms of sum(1), sum(i), sum(i^2)).
        sum_i = k * (k - 1) / 2
        sum_i2 = (k - 1) * k * (2 * k - 1) / 6
        var_p, cov_pv, var_v = covariance[..., 0, 0], covariance[..., 0, 1], covariance[..., 1, 1]
        new_covariance = np.empty_like(covariance)
        new_covariance[..., 0, 0] = var_p + 2 * k * cov_pv + k * k * var_v + k * position_var + sum_i2 * velocity_var
        new_covariance[..., 0, 1] = new_covariance[..., 1, 0] = cov_pv + k * var_v + sum_i * velocity_var
        new_covariance[..., 1, 1] = var_v + k * velocity_var
        return new_mean, new_covariance

    def update(self, mean: np.ndarray, covariance: np.ndarray, cxcywh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Correct ``N`` predicted states with their measured boxes ``cxcywh (N, 4)`` (new arrays)."""
        if len(mean) == 0:
            return mean.copy(), covariance.copy()
        var_p, cov_pv, var_v = covariance[..., 0, 0], covariance[..., 0, 1], covariance[..., 1, 1]
        innovation_var = var_p + (self.position_noise_per_size * mean[:, _SIZE_OF_EACH]) ** 2
        gain_value = var_p / innovation_var
        gain_velocity = cov_pv / innovation_var
        innovation = np.asarray(cxcywh, np.float64).reshape(-1, MEASUREMENT_SIZE) - mean[:, :MEASUREMENT_SIZE]
        new_mean = mean + np.concatenate([gain_value * innovation, gain_velocity * innovation], axis=1)
        new_covariance = np.empty_like(covariance)
        # P - K S K' for K = (P H') / S with H = [1, 0].
        new_covariance[..., 0, 0] = var_p * (1 - gain_value)
        new_covariance[..., 0, 1] = new_covariance[..., 1, 0] = cov_pv * (1 - gain_value)
        new_covariance[..., 1, 1] = var_v - cov_pv * gain_velocity
        return new_mean, new_covariance
