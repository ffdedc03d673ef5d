from typing import Annotated

from fastapi import Depends, Request

from app.processor.client import Processor


async def _processor(request: Request) -> Processor:
    processor: Processor = request.app.state.processor
    return processor


ProcessorDep = Annotated[Processor, Depends(_processor)]
