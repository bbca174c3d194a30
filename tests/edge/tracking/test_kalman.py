"""The box Kalman filter: equal to the textbook 8x8 filter, exact multi-frame steps, convergence."""

import numpy as np
import pytest

from edge.contract.boxes import cxcywh_to_xyxy, xyxy_to_cxcywh
from edge.contract.errors import ConfigError
from edge.tracking.kalman import BoxKalmanFilter

SIZE_OF_EACH = [2, 3, 2, 3]


def textbook(filter_, mean, covariance8, frames=1, measurement=None):
    """One predict (and optional update) of the full 8x8 filter, written as in SORT/ByteTrack."""
    transition = np.eye(8)
    transition[:4, 4:] = np.eye(4)
    scale = mean[SIZE_OF_EACH]
    for _ in range(frames):
        noise = np.diag(np.r_[(filter_.position_noise_per_size * scale) ** 2,
                              (filter_.velocity_noise_per_size * scale) ** 2])
        mean = transition @ mean
        covariance8 = transition @ covariance8 @ transition.T + noise
    if measurement is not None:
        projection = np.eye(4, 8)
        innovation_cov = projection @ covariance8 @ projection.T + np.diag(
            (filter_.position_noise_per_size * mean[SIZE_OF_EACH]) ** 2)
        gain = covariance8 @ projection.T @ np.linalg.inv(innovation_cov)
        mean = mean + gain @ (measurement - projection @ mean)
        covariance8 = covariance8 - gain @ innovation_cov @ gain.T
    return mean, covariance8


def as_8x8(blocks):
    """The (4, 2, 2) per-coordinate covariance as the full 8x8 matrix."""
    full = np.zeros((8, 8))
    for i in range(4):
        full[np.ix_([i, i + 4], [i, i + 4])] = blocks[i]
    return full


@pytest.mark.parametrize("frames", [1, 3])
def test_the_per_coordinate_filter_equals_the_textbook_8x8_filter(frames):
    kalman = BoxKalmanFilter()
    mean, covariance = kalman.initiate(xyxy_to_cxcywh([[100, 50, 160, 210]]))
    mean[0, 4:] = [3.0, -1.0, 0.0, 0.0]  # moving, constant size: the textbook noise scale stays put
    measured = xyxy_to_cxcywh([[112, 47, 171, 206]])[0]
    expected_mean, expected_cov = textbook(kalman, mean[0], as_8x8(covariance[0]), frames, measured)
    predicted = kalman.predict(mean, covariance, frames)
    new_mean, new_cov = kalman.update(*predicted, measured[None])
    np.testing.assert_allclose(new_mean[0], expected_mean, rtol=1e-12)
    np.testing.assert_allclose(as_8x8(new_cov[0]), expected_cov, rtol=1e-10, atol=1e-12)


def test_one_step_of_k_frames_equals_k_steps_of_one_frame():
    kalman = BoxKalmanFilter()
    mean, covariance = kalman.initiate(xyxy_to_cxcywh([[10, 20, 60, 140], [300, 40, 380, 200]]))
    mean[:, 4:6] = [[4.0, 0.5], [-2.0, 1.0]]
    once = kalman.predict(mean, covariance, 3)
    stepwise = (mean, covariance)
    for _ in range(3):
        stepwise = kalman.predict(*stepwise, 1)
    np.testing.assert_allclose(once[0], stepwise[0])
    np.testing.assert_allclose(once[1], stepwise[1])


def test_predict_and_update_leave_their_inputs_alone():
    kalman = BoxKalmanFilter()
    mean, covariance = kalman.initiate(xyxy_to_cxcywh([[0, 0, 10, 20]]))
    mean_before, covariance_before = mean.copy(), covariance.copy()
    kalman.update(*kalman.predict(mean, covariance, 2), xyxy_to_cxcywh([[1, 1, 11, 21]]))
    np.testing.assert_array_equal(mean, mean_before)
    np.testing.assert_array_equal(covariance, covariance_before)


def test_a_box_moving_at_constant_speed_is_learned_and_then_predicted():
    kalman = BoxKalmanFilter()
    start = np.array([[100.0, 100.0, 150.0, 220.0]])
    state = kalman.initiate(xyxy_to_cxcywh(start))
    for frame in range(1, 30):
        predicted = kalman.predict(*state, 1)
        state = kalman.update(*predicted, xyxy_to_cxcywh(start + [6 * frame, 0, 6 * frame, 0]))
    assert state[0][0, 4] == pytest.approx(6.0, abs=0.05)  # pixels per frame, learned
    ahead, _ = kalman.predict(*state, 5)
    np.testing.assert_allclose(cxcywh_to_xyxy(ahead[:, :4])[0], start[0] + [6 * 34, 0, 6 * 34, 0], atol=1.0)


def test_uncertainty_grows_while_predicting_and_shrinks_with_a_measurement():
    kalman = BoxKalmanFilter()
    state = kalman.initiate(xyxy_to_cxcywh([[0, 0, 50, 100]]))
    one = kalman.predict(*state, 1)
    five = kalman.predict(*state, 5)
    assert (five[1][0, :, 0, 0] > one[1][0, :, 0, 0]).all()
    corrected = kalman.update(*one, xyxy_to_cxcywh([[0, 0, 50, 100]]))
    assert (corrected[1][0, :, 0, 0] < one[1][0, :, 0, 0]).all()


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_noise_settings_must_be_positive_fractions(bad):
    with pytest.raises(ConfigError, match="position_noise_per_size"):
        BoxKalmanFilter(position_noise_per_size=bad)
