"""Box IoU and the merging of overlapping boxes, in their one home."""
import numpy as np
import pytest

from reaction.boxes import box_iou, iou_matrix, merge_boxes


def test_iou_matrix_known_values():
    a = np.array([[0, 0, 10, 10], [100, 100, 10, 10]], float)
    b = np.array([[5, 0, 10, 10]], float)
    m = iou_matrix(a, b)
    assert m.shape == (2, 1)
    assert m[0, 0] == pytest.approx(50 / 150)
    assert m[1, 0] == 0


def test_box_iou_is_the_matrix_for_one_pair():
    assert box_iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert box_iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0


def test_merge_keeps_the_larger_of_two_overlapping_boxes_and_keeps_apart_ones():
    big, small, apart = (0.0, 0.0, 20.0, 20.0), (2.0, 2.0, 16.0, 16.0), (100.0, 100.0, 10.0, 10.0)
    assert merge_boxes([small, apart, big]) == [big, apart]
    assert merge_boxes([]) == []
    # Below the threshold both stay.
    assert len(merge_boxes([(0.0, 0.0, 10.0, 10.0), (8.0, 0.0, 10.0, 10.0)], iou_threshold=0.3)) == 2
